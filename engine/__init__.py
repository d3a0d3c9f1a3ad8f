"""The one way to talk to ComfyUI: the async HTTP/WebSocket client, the local engine runner, UI→API conversion,
workflow parameter manifests, requests that become prompts, and job tracking."""

"""The engine client, the local engine runner, the FastMCP server and the ``dgx-pixels`` CLI."""

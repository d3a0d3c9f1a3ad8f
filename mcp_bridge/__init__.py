"""The FastMCP server and its tools, built on engine/, ops/ and export/."""

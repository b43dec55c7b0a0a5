"""The MCP front-end: ``sandbox-kernel mcp`` serves the tool ``sandbox_exec`` on stdio.

``server`` speaks MCP (the official SDK), ``runner`` runs calls on the engine, ``audit`` writes
one JSON line per call.
"""

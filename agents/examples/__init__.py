"""Example agents written purely the LangGraph / LangChain way: no Steward import anywhere in
them, offline with a small fake chat model each. Steward loads them through their own
`langgraph.json` (the LangGraph CLI's config), which `make demo` uses by default.

They sit outside Steward's layers (docs/architecture.md): nothing imports them, and they import
no Steward code (import-linter checks both).
"""

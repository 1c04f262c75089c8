"""The LangGraph Platform / Agent Protocol HTTP API at `/langgraph`, for `langgraph_sdk` clients
(docs/langgraph-api.md). Every run it starts is an ordinary Steward run."""

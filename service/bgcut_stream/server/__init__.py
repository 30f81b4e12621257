"""Self-hosted BackgroundCut API v3 server: FastAPI app, SQLite ledger, real U²-Net-p inference."""

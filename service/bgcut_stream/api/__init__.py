"""BackgroundCut API v3 wire models and credit rules, shared by the client and the server."""

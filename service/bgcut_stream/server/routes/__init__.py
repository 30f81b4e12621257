"""HTTP routes of the server, one module per area of the API."""

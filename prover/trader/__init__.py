"""The trader's side: the private state, the service client, and the commands that prove."""

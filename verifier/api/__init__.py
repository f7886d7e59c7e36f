"""The HTTP layer: request schemas, dependencies, error translation, middleware, routers."""

package httpapi

// anthropicRoutes mounts the Anthropic Messages API.
func (h *Handler) anthropicRoutes() {}

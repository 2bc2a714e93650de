package httpapi

// controlPlaneRoutes mounts Bedrock's read-only control-plane operations that clients call at start.
func (h *Handler) controlPlaneRoutes() {}

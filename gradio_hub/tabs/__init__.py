"""One module per tab of the hub; each `build(ctx, ...)` lays its tab out and returns the
`TabHandles` the app refreshes it with."""

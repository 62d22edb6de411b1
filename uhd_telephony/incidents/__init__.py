"""Major incidents (Großstörungen): declared per tenant, announced to callers before the queue, linked tickets
resolved together, NIS2 timestamps."""

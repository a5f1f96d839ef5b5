"""agybatch-ray: run a batch's tasks as Ray jobs through the Ray Jobs API."""

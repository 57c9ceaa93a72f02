"""The gate and the deployment memo, and the `tether run` workflow that produces them."""

"""The 'dask' task runner for Sluice (distribution `sluice-dask`)."""

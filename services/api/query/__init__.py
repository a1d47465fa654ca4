"""Reading queries shared by the API routes: bucketed aggregation (buckets.py)."""

"""elman: recurrent-network language models in NumPy."""

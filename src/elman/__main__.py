import sys

from elman.cli import main

if __name__ == "__main__":  # not in a worker process started by spawn (elman.data.prepared)
    sys.exit(main())

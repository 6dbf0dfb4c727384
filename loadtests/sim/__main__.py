"""`python -m loadtests.sim`: the `kvgate-sim` console script."""

from loadtests.sim.cli import main

if __name__ == "__main__":
    main()

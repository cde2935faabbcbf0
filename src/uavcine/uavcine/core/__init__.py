"""Layer 1: algorithms and models. Plain Python, numpy, torch; no ROS, no files, no threads. Python 3.8."""

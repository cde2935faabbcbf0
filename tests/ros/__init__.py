"""Tests on a real ROS 2 Humble (make test-ros)."""

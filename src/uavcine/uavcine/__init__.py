"""uavcine: autonomous UAV cinematography (ROS 2 Humble nodes that also run without ROS)."""
__version__ = '0.1.0'

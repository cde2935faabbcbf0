"""The rclpy host of uavcine: the only package that imports rclpy."""

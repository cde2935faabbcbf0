"""uavcine_ros: ament_python package; one console entry point per uavcine node (ros2 run uavcine_ros NODE)."""
import os
from glob import glob

from setuptools import setup

package_name = 'uavcine_ros'
here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))

#: Must list every key of uavcine.nodes.REGISTRY (a test checks it).
NODE_NAMES = ['airsim', 'detector', 'forecast', 'geo', 'mavlink', 'pointing', 'relay', 'sim', 'tlog', 'tracker']


def repo_files(pattern):
    """Launch and config files of the workspace root, installed under share/uavcine_ros."""
    return [os.path.relpath(p, here) for p in sorted(glob(os.path.join(repo, pattern)))]


setup(
    name=package_name,
    version='0.1.0',
    packages=[package_name],
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', repo_files('launch/*.launch.py')),
        ('share/' + package_name + '/config', repo_files('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='uavcine developers',
    maintainer_email='dev@uavcine.invalid',
    description='rclpy host for uavcine nodes',
    license='Apache-2.0',
    entry_points={'console_scripts': ['%s = uavcine_ros.entry:%s' % (n, n) for n in NODE_NAMES]},
)

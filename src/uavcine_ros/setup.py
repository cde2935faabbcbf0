"""uavcine_ros: ament_python package; one console entry point per uavcine node (ros2 run uavcine_ros NODE)."""
import os
from glob import glob

from setuptools import setup

package_name = 'uavcine_ros'
here = os.path.dirname(os.path.abspath(__file__))

#: Must list every key of uavcine.nodes.REGISTRY (a test checks it).
NODE_NAMES = ['airsim', 'detector', 'forecast', 'geo', 'mavlink', 'pointing', 'relay', 'sim', 'tlog', 'tracker',
              'gesture',
              'media_server',
              'media_rest_client',
              'flodcast',
              'view_synthesis',
              ]


def package_files(pattern):
    """Files under this package's folder, relative to it (what setuptools and colcon expect in data_files).

    launch/ and config/ here are symbolic links to the repository's top-level folders: every path stays
    inside the package, so a plain install copies the files into share/uavcine_ros and --symlink-install
    links them, from whatever folder colcon runs this file in (never paths up and out of the package,
    which colcon resolves against its build folder).
    """
    return [os.path.relpath(p, here) for p in sorted(glob(os.path.join(here, pattern))) if os.path.isfile(p)]


setup(
    name=package_name,
    version='0.1.0',
    packages=[package_name],
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', package_files('launch/*.launch.py')),
        ('share/' + package_name + '/config', package_files('config/*.yaml') + package_files('config/*.json')),
        ('share/' + package_name + '/config/graphs', package_files('config/graphs/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='uavcine developers',
    maintainer_email='dev@uavcine.invalid',
    description='rclpy host for uavcine nodes',
    license='Apache-2.0',
    entry_points={'console_scripts': ['%s = uavcine_ros.entry:%s' % (n, n) for n in NODE_NAMES]},
)

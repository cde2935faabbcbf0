"""uavcine: pip-installable (pip install -e src/uavcine) and an ament_python package for colcon."""
import os
from glob import glob

from setuptools import find_packages, setup

package_name = 'uavcine'
here = os.path.dirname(os.path.abspath(__file__))


def package_files(pattern):
    """Files under this package's folder, relative to it. models/ and sim/ here are symbolic links to the
    repository's top-level folders, so the paths stay inside the package (see src/uavcine_ros/setup.py)."""
    return [os.path.relpath(p, here) for p in sorted(glob(os.path.join(here, pattern))) if os.path.isfile(p)]


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'tests']),
    package_data={'uavcine': ['offline/msg/*/msg/*.msg', 'offline/msg/*/srv/*.srv', 'eval/det_labels/*.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        # weights and scenarios for colcon installs (nodes look there through uavcine.nodes.paths)
        ('share/' + package_name + '/models', package_files('models/*')),
        ('share/' + package_name + '/sim', package_files('sim/*.yaml')),
        ('share/' + package_name + '/sim/airsim', package_files('sim/airsim/*')),
    ],
    python_requires='>=3.8',
    # Run-time needs of the onboard nodes (Python 3.8 on JetPack 5).
    install_requires=['numpy', 'pyyaml', 'transforms3d', 'scipy', 'pymap3d', 'pymavlink', 'pyserial'],
    extras_require={
        # Offline host, simulator, evaluation, training: this machine and CI (Python >= 3.10).
        'offline': ['torch', 'rosbags>=0.11', 'mcap', 'tqdm', 'matplotlib', 'opencv-contrib-python-headless', 'pycocotools',
                    'onnx', 'onnxruntime', 'cosysairsim', 'foxglove-sdk',
                    'zstandard',  # mcap's reader of zstd chunks (bag recovery)
                    'scikit-image'],  # PSNR/SSIM of the novel-view gap study
        'test': ['pytest', 'pytest-timeout', 'vermin', 'websockets', 'hypothesis'],
        # TensorRT comes with JetPack / NVIDIA's wheels; never installed by us.
        'tensorrt': [],
    },
    zip_safe=True,
    maintainer='uavcine developers',
    maintainer_email='dev@uavcine.invalid',
    description='Autonomous UAV cinematography nodes and tools',
    license='Apache-2.0',
    entry_points={'console_scripts': ['uavcine = uavcine.cli:main']},
)

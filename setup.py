"""Installation script for astra_np (metadata also in pyproject.toml)."""
import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', open("astra_np/_version.py", encoding="utf-8").read()).group(1)

setup(
    name="astra_np",
    version=VERSION,
    description=(
        "Reference NumPy implementation of ASTra (asymmetric sigmoid transfer) "
        "and the GMN loss for extreme class imbalance, with hand-derived gradients"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["astra_np", "astra_np.*"]),
    package_data={"astra_np": ["check/schema/*.json"]},
    include_package_data=True,
    python_requires=">=3.11",  # the tested version
    install_requires=["numpy>=1.22", "scipy>=1.9"],
    extras_require={
        # scipy.differentiate (a finite-difference reference) needs scipy >= 1.15
        "test": ["pytest>=7", "hypothesis>=6.50", "mpmath>=1.2", "sympy>=1.10", "scipy>=1.15",
                 "jsonschema>=4", "threadpoolctl>=3", "ruff>=0.5",
                 # data frames: ASTraClassifier's column-name checks (feature_names_in_)
                 "pandas>=1.5"],
        # the JAX example (examples/jax_astra.py) and its test
        "jax": ["jax>=0.4.30"],
        # the figures command trains (Fig. 4): one BLAS thread per process is much faster
        # for these small products, and threadpoolctl is how astra_np sets it
        "plot": ["matplotlib>=3.7", "threadpoolctl>=3"],
        "fast": ["threadpoolctl>=3"],
        "ref": ["mpmath>=1.2"],
        "compare": ["scikit-learn>=1.2"],
        "dask": ["dask[distributed]>=2023.1"],
    },
    entry_points={"console_scripts": ["astra-np=astra_np.__main__:main"]},
    license="MIT",
)

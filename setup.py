"""Installation script for astra_np (metadata also in pyproject.toml)."""
from setuptools import find_packages, setup

setup(
    name="astra_np",
    version="0.1.0",
    description=(
        "Reference NumPy implementation of ASTra (asymmetric sigmoid transfer) "
        "and the GMN loss for extreme class imbalance, with hand-derived gradients"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["astra_np", "astra_np.*"]),
    package_data={"astra_np": ["data/*", "schema/*.json"]},
    include_package_data=True,
    python_requires=">=3.9",
    install_requires=["numpy>=1.22", "scipy>=1.9"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6.50", "mpmath>=1.2", "sympy>=1.10"],
        "plot": ["matplotlib>=3.7"],
        "ref": ["mpmath>=1.2"],
        "compare": ["scikit-learn>=1.2"],
        "dask": ["dask[distributed]>=2023.1"],
    },
    entry_points={"console_scripts": ["astra-np=astra_np.__main__:main"]},
    license="MIT",
)

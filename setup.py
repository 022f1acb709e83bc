"""Map the four top-level code folders onto the ``stocklab`` namespace.

The user fixed the repository layout (``envs/ agents/ baselines/ experiments/``); installing those
folders under their bare names would collide with unrelated PyPI distributions (and ``agents`` with
OpenAI's Agents SDK), so each installs as ``stocklab.<folder>``. Sub-packages are discovered here so
that a new sub-folder is never silently dropped from the wheel.
"""

from setuptools import find_packages, setup

FOLDERS = ("envs", "agents", "baselines", "experiments")

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder in FOLDERS:
    top = f"stocklab.{folder}"
    packages.append(top)
    package_dir[top] = folder
    for sub in find_packages(where=folder):
        packages.append(f"{top}.{sub}")
        package_dir[f"{top}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "stocklab.envs.sales": ["data/*.csv"],
        "stocklab.envs": ["py.typed"],
        "stocklab.agents": ["py.typed"],
        "stocklab.baselines": ["py.typed"],
        "stocklab.experiments": ["py.typed"],
    },
    include_package_data=True,
)

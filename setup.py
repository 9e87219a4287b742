from setuptools import find_packages, setup

setup(
    name="armin-fairseq",
    version="0.1.0",
    description="ARMIN (memory-augmented RNN, Li et al. IJCAI 2019) as a fairseq plugin",
    packages=find_packages(include=["armin_plugin", "armin_plugin.*"]),
    python_requires=">=3.9",
    # The pinned environment is installed by recipes/install.sh (see docs/installation.md);
    # fairseq itself must be installed without its torchaudio dependency.
    install_requires=["torch"],
    # armin-launch: fairseq-train on N CPU processes (docs/distributed.md);
    # armin-study: a grid of variants x seeds at an equal update budget (docs/study.md);
    # armin-inspect: what a trained ARMIN reads and writes (docs/memory-inspector.md);
    # armin-flags: an architecture's (task's, criterion's) flags with their defaults (user_dir.md)
    entry_points={"console_scripts": ["armin-launch=armin_plugin.launch:main",
                                      "armin-study=armin_plugin.jobs.study.command:main",
                                      "armin-inspect=armin_plugin.inspector:main",
                                      "armin-flags=armin_plugin.flags:main"]},
)

"""Repository-wide pytest configuration: the environment notebook kernels inherit."""

from tools.nbenv import configure_env


def pytest_configure(config):
    # Kernels started by nbval inherit this process's environment.
    configure_env()

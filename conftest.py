"""Repository-wide pytest configuration: the environment notebook kernels inherit, and one
nbval adjustment so that a cell behaves under test exactly as it does in JupyterLab."""

from tools.nbenv import configure_env


def _execute_like_jupyterlab(self, cell_input, allow_stdin=None):
    # nbval 0.11 executes cells with store_history=False. IPython then does not see a cell's
    # trailing ';' (its check reads the input history), so `plt.plot(x);` or `interact(f);`
    # would print a repr under test that JupyterLab, Colab and nbclient never show.
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                           stop_on_error=False)


def pytest_configure(config):
    configure_env()  # kernels started by nbval inherit this process's environment
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # nbval not installed: unit tests still run
        return
    RunningKernel.execute_cell_input = _execute_like_jupyterlab

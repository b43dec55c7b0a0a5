# matplotlib backend for one-shot Python programs (see PROTOCOL.md, "One-shot runs"). oneshot.sh
# installs it as /tmp/.sandbox-plots/_sandbox_kernel_plots.py and selects it with
# MPLBACKEND=module://_sandbox_kernel_plots; nothing here runs unless the program uses pyplot
# without choosing a backend of its own. plt.show() draws every open figure with Agg and writes
# each as one "display" frame on stdout (RS US TOKEN US SIZE US JSON LF), TOKEN and the host's
# message cap coming from SANDBOX_KERNEL_DISPLAY ("TOKEN MAX_MESSAGE", set by the wrapper per run);
# then the figures are closed, as matplotlib-inline does. A figure whose frame would be over the
# cap is not sent: a note on stderr says so, worded as the session driver's.
import base64
import io
import json
import os
import sys

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def _size_text(size):
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.1f} KiB"


def _write(fd, data):
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except InterruptedError:
            continue
        except OSError:
            return


def _channel():
    parts = os.environ.get("SANDBOX_KERNEL_DISPLAY", "").split()
    if len(parts) != 2 or len(parts[0]) != 32 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _send(figure, channel):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    message = {"type": "display",
               "data": {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                        "text/plain": repr(figure)},
               "metadata": {}}
    body = json.dumps(message).encode()
    token, max_message = channel
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if len(body) > max_message:
        _write(2, (f"[sandbox-kernel] dropped a display_data output ({_size_text(len(body))}): "
                   f"the message is larger than {_size_text(max_message)}\n").encode())
        return
    _write(1, b"\x1e\x1f%s\x1f%d\x1f%s\n" % (token.encode(), len(body), body))


def show(*args, **kwargs):
    channel = _channel()
    try:
        if channel is not None:
            for manager in Gcf.get_all_fig_managers():
                _send(manager.canvas.figure, channel)
    finally:
        Gcf.destroy_all()

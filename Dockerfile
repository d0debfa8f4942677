ARG BASE=python:3.11-slim
FROM ${BASE}
# pgdl-harness image for the official two-container run (README, "Official run in Docker").
#
#   docker build -t pgdl .                                   # CPU TensorFlow (default)
#   docker build -t pgdl-gpu --build-arg TF_PACKAGE='tensorflow[and-cuda]' .
#                                                            # GPU: run with `docker run --gpus all`
#
# One image, two halves, run as two containers by `pgdl official` (harness/official.py):
#   prediction: --network none; /data/input_data (the tasks' input side) and /submission
#               read-only; `pgdl predict --no-sandbox` (the container is the sandbox; the harness
#               still enforces the per-model time and memory limits) writing to /output;
#   scoring:    --network none; /predictions and /data/reference_data read-only;
#               `pgdl evaluate` writing to /scores.

# TF_PACKAGE: the TensorFlow distribution (tensorflow-cpu, tensorflow, 'tensorflow[and-cuda]').
# TF_VERSION: its minor version; tf_keras (Keras 2 compatibility mode) is pinned to the same one.
ARG TF_PACKAGE=tensorflow-cpu
ARG TF_VERSION=2.21

# The sandbox's system packages (scripts/setup.sh installs the same): libseccomp2 compiles its
# system-call filter, util-linux has setpriv and prlimit. Both come with Debian's base image; they
# are installed only where missing. (The prediction container itself runs with --no-sandbox.)
RUN (ldconfig -p | grep -q 'libseccomp\.so\.2' && command -v setpriv && command -v prlimit) >/dev/null 2>&1 \
 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends libseccomp2 util-linux \
     && rm -rf /var/lib/apt/lists/*)

ENV PATH=/opt/pgdl/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/pgdl-harness

# The heavy dependencies first, in their own layer, so that a code change does not reinstall them.
# tensorflow-cpu does not satisfy the name `tensorflow` in install_requires, hence the filter and
# `--no-deps` for tf_keras (whose only dependency is tensorflow; pinned to TensorFlow's minor version,
# so it is left out of the requirements file) and for the package itself.
# TensorFlow's C++ headers (tensorflow/include: 18,000 files, 430 MB) only serve to compile custom
# ops; removing them in the same layer keeps the image smaller and faster to export.
COPY setup.cfg pyproject.toml ./
RUN python3 -m venv /opt/pgdl \
 && /opt/pgdl/bin/python -c "import configparser; c = configparser.ConfigParser(); c.read('setup.cfg'); reqs = [r.strip() for r in c['options']['install_requires'].splitlines()]; print('\n'.join(r for r in reqs if r and not r.startswith(('tensorflow', 'tf_keras', '#'))))" > /tmp/requirements.txt \
 && /opt/pgdl/bin/pip install --no-cache-dir "${TF_PACKAGE}==${TF_VERSION}.*" -r /tmp/requirements.txt \
 && /opt/pgdl/bin/pip install --no-cache-dir --no-deps "tf_keras==${TF_VERSION}.*" \
 && rm -rf /tmp/requirements.txt /opt/pgdl/lib/python3*/site-packages/tensorflow/include

# The package itself, installed editable so that the shipped zoo (model_zoo/default) stays beside
# it for `pgdl score` without --data. The official run mounts its data instead:
# /data/input_data or /data/reference_data, /submission, /output, /predictions, /scores.
COPY harness ./harness
COPY model_zoo ./model_zoo
RUN /opt/pgdl/bin/pip install --no-cache-dir --no-deps -e .

CMD ["pgdl", "--help"]

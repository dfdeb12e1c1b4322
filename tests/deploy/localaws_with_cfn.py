"""Starts the project's local AWS (tests/localaws, `python -m localaws`) with localaws_cfn (CloudFormation types moto lacks) registered first.

Usage: python tests/deploy/localaws_with_cfn.py --port 0   (prints "localaws ready URL" like localaws itself)
"""
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "localaws")]

import localaws_cfn  # noqa: E402,F401  (registers the CloudFormation models before moto builds its type map)

runpy.run_module("localaws", run_name="__main__", alter_sys=True)

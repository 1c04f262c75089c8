"""Helpers the tests share: plain functions and classes, imported by test modules and by the
fixtures in the conftest.py files. Nothing here is collected as a test."""

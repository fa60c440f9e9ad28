"""Adapters to the outside world (mail, bank), each with a built-in local implementation."""

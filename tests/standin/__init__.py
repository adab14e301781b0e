"""Tests of the local Glue/Athena stand-in (smartcity.standin)."""

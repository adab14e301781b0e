"""The journey simulator and the Kafka producer (``python -m producers``, ``smartcity produce``)."""

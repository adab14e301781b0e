"""The services of the embedded stack, in start order."""

from smartcity.stack.services.base import Port, Service, StackContext
from smartcity.stack.services.kafka import Kafka
from smartcity.stack.services.seaweedfs import SeaweedFS
from smartcity.stack.services.spark import SparkMaster, SparkWorker

ALL: tuple[Service, ...] = (SeaweedFS(), Kafka(), SparkMaster(), SparkWorker())

__all__ = ["ALL", "Port", "Service", "StackContext"]

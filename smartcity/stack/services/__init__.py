"""The services of the embedded stack, in start order."""

from smartcity.stack.services.airflow import AIRFLOW_SERVICES
from smartcity.stack.services.base import Port, Service, StackContext
from smartcity.stack.services.kafka import Kafka
from smartcity.stack.services.seaweedfs import SeaweedFS
from smartcity.stack.services.spark import SparkMaster, SparkWorker
from smartcity.stack.services.standin import GlueAthenaStandin

ALL: tuple[Service, ...] = (SeaweedFS(), Kafka(), GlueAthenaStandin(), SparkMaster(), SparkWorker(), *AIRFLOW_SERVICES)

__all__ = ["ALL", "Port", "Service", "StackContext"]

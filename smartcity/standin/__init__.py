"""A local stand-in for AWS Glue (Data Catalog + crawlers) and Amazon Athena.

It speaks the real AWS JSON 1.1 protocol (``X-Amz-Target: AWSGlue.*`` / ``AmazonAthena.*``), checks SigV4
signatures against the stack's credentials and does the real work behind the API: crawlers list and read the
Parquet lake on the local S3, queries run in DuckDB over the catalogued tables. Pointing a boto3 client, the AWS
CLI, pyathena or the Airflow AWS operators at it only takes an endpoint URL.

Start it with ``python -m smartcity.standin``.
"""

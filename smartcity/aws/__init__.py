"""The pipeline's cloud resources: ``smartcity aws bootstrap|teardown|iam-policy|connections``.

Everything here talks to AWS only through boto3 clients from :meth:`smartcity.settings.Settings.boto3_client`,
so the same commands run against the embedded stack (SeaweedFS S3 and the Glue/Athena stand-in) and against
real AWS; only the endpoints and credentials in the environment differ.
"""

"""The Alibaba Cloud RPC APIs on the MNS port: the SMS API (dysmsapi, dybaseapi) and the
management OpenAPI (2022-01-19), their POP signatures and the temporary keys they issue."""

"""The MNS REST API (queues, topics, subscriptions, the account): XML in and out, MNS signatures."""

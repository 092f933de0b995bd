"""The human side: requests for a person, the operator queue and its service levels."""

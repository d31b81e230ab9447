"""The partner's, the customer's and the mail server's pages, one module per concern: ``claim_list`` (Customer
associations), ``wizard`` (a new claim and its uploads), ``drafts`` (resume, delete, copy), ``detail`` (a claim's
page, the answer, Disassociate, POE downloads), ``disputes`` (dispute and protect), ``usage`` (usage data),
``customer`` (the customer's page behind the emailed link) and ``mail`` (bounce reports)."""

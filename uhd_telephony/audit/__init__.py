"""The audit log: who did what when — logins, changes of accounts, roles, tenants and tokens. Every capability
may write to it (it imports none of them); its admin API is the security capability's."""

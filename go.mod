module orgs

go 1.26.8

module weir.example/client

go 1.19

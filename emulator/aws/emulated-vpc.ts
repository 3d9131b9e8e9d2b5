/**
 * Networks for emulated workloads: a private subnet whose only way out is a NAT gateway in a public
 * subnet of the same VPC, as most production fleets are built. The drill's victims and the SSM host
 * emulator's specs live in one; emulator/strict/network.ts then decides what they can reach.
 */
import {
    AllocateAddressCommand, AssociateRouteTableCommand, AttachInternetGatewayCommand, CreateInternetGatewayCommand, CreateNatGatewayCommand,
    CreateRouteCommand, CreateRouteTableCommand, CreateSubnetCommand, EC2Client,
} from "@aws-sdk/client-ec2";

export interface NatRoutedSubnetArgs {
    vpcId: string;
    /** The private subnet's CIDR (the workload's). */
    privateCidr: string;
    /** The public subnet's CIDR, holding the NAT gateway. */
    publicCidr: string;
    availabilityZone: string;
    /** An IPv6 /64 for the private subnet; none by default. */
    ipv6CidrBlock?: string;
}

/** Creates the two subnets, the internet and NAT gateways and both route tables; returns the private subnet. */
export async function natRoutedSubnet(ec2: EC2Client, args: NatRoutedSubnetArgs): Promise<{ subnetId: string; natGatewayId: string }> {
    const { vpcId, availabilityZone } = args;
    const subnetId = (await ec2.send(new CreateSubnetCommand({
        VpcId: vpcId, CidrBlock: args.privateCidr, AvailabilityZone: availabilityZone, Ipv6CidrBlock: args.ipv6CidrBlock,
    }))).Subnet?.SubnetId ?? "";
    const publicSubnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: args.publicCidr, AvailabilityZone: availabilityZone }))).Subnet?.SubnetId ?? "";
    const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway?.InternetGatewayId ?? "";
    await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
    const publicTable = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable?.RouteTableId ?? "";
    await ec2.send(new CreateRouteCommand({ RouteTableId: publicTable, DestinationCidrBlock: "0.0.0.0/0", GatewayId: igw }));
    await ec2.send(new AssociateRouteTableCommand({ RouteTableId: publicTable, SubnetId: publicSubnet }));
    const eip = (await ec2.send(new AllocateAddressCommand({ Domain: "vpc" }))).AllocationId ?? "";
    const natGatewayId = (await ec2.send(new CreateNatGatewayCommand({ SubnetId: publicSubnet, AllocationId: eip }))).NatGateway?.NatGatewayId ?? "";
    const privateTable = (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable?.RouteTableId ?? "";
    await ec2.send(new CreateRouteCommand({ RouteTableId: privateTable, DestinationCidrBlock: "0.0.0.0/0", NatGatewayId: natGatewayId }));
    await ec2.send(new AssociateRouteTableCommand({ RouteTableId: privateTable, SubnetId: subnetId }));
    return { subnetId, natGatewayId };
}
